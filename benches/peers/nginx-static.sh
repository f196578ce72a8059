# Sourced by benches/peers/ocsp-peers.sh and loadtest/validate.sh: nginx as the static-file peer.
#
# nginx_static DIR LISTEN CPU RESPONSE_DER [tuned] — serves RESPONSE_DER for every GET path
# (sigil-load's GET scenario puts the request in the path, as RFC 6960 A.1 does) from one
# worker pinned to CPU, keep-alive without limit, no access log. Starts nginx in the
# background; its pid is in NGINX_PID. Files go under DIR (made readable: nginx workers run
# unprivileged). Default: nginx's defaults, i.e. open, fstat, read and close per request;
# `tuned` adds the usual static-file tuning (open_file_cache, sendfile, tcp_nopush), after
# which a request is one read and one write, like Sigil's.
nginx_static() {
  local dir="$1" listen="$2" cpu="$3" response="$4" tuning=""
  [ "${5:-}" = tuned ] && tuning="open_file_cache max=16 inactive=1h; open_file_cache_valid 1h; sendfile on; tcp_nopush on;"
  mkdir -p "$dir/www"
  cp "$response" "$dir/www/ocsp.der"
  chmod 755 "$dir" "$dir/www" && chmod 644 "$dir/www/ocsp.der"
  cat >"$dir/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  $tuning
  keepalive_requests 100000000;
  server {
    listen $listen reuseport;
    root $dir/www;
    location / { default_type application/ocsp-response; try_files /ocsp.der =404; }
  }
}
NGX
  taskset -c "$cpu" nginx -c "$dir/nginx.conf" &
  NGINX_PID=$!
}
