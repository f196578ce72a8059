//! Secrets in configuration files given as a whole-value `${VAR}` reference (e.g.
//! `bearer_token = "${SIGIL_ADMIN_TOKEN}"`), expanded from the environment at start-up.

/// A `${VAR}` reference whose variable is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var} is not set")]
pub struct EnvError {
    pub var: String,
}

/// Expands a whole-value `${VAR}` reference from the environment; other values are returned
/// as they are.
pub fn expand_env(value: &str) -> Result<String, EnvError> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => std::env::var(var).map_err(|_| EnvError { var: var.into() }),
        None => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_value_references_only() {
        assert_eq!(expand_env("plain").unwrap(), "plain");
        assert_eq!(expand_env("${").unwrap(), "${");
        assert_eq!(expand_env("x${PATH}").unwrap(), "x${PATH}");
        let e = expand_env("${SIGIL_SURELY_UNSET_VARIABLE_1}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable SIGIL_SURELY_UNSET_VARIABLE_1 is not set"
        );
        assert_eq!(
            expand_env("${PATH}").unwrap(),
            std::env::var("PATH").unwrap()
        );
    }
}
