# Sourced by bench/*.sh: a scratch directory, the processes a script starts stopped by PID at
# exit, and loopback port helpers.
#   bench_setup NAME   creates $work (/tmp/gorgee-NAME.XXXXXX; kept when KEEP is set) and
#                      the exit trap; append every started PID to the pids array
#   free_port          prints a free TCP port on 127.0.0.1
#   wait_port PORT     waits up to 10 s for a listener on 127.0.0.1:PORT
bench_setup() {
	work=$(mktemp -d "/tmp/gorgee-$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}
bench_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}
