# Shared set-up of the benchmark scripts (sourced, not run).
#
# bench_binary:  sets BIN to $MODELCONV_BIN, or builds target/release/modelconv.
# bench_rss_tool: sets RSS_TOOL to gnu-time (/usr/bin/time, installed with apt-get
#                 when missing and running as root) or rusage (getrusage of the
#                 children, from a Python wrapper); BENCH_FORCE_RUSAGE=1 forces rusage.

bench_binary() {
    if [[ -n "${MODELCONV_BIN:-}" ]]; then
        BIN="$MODELCONV_BIN"
        echo "== using MODELCONV_BIN=$BIN (no build)" >&2
    else
        echo "== building release binary" >&2
        cargo build --release -p modelconv-cli >&2
        BIN="$REPO/target/release/modelconv"
    fi
}

bench_rss_tool() {
    RSS_TOOL=rusage
    if [[ "${BENCH_FORCE_RUSAGE:-0}" != 1 ]]; then
        if [[ ! -x /usr/bin/time && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
            echo "note: /usr/bin/time is missing; installing the 'time' package with apt-get" >&2
            (apt-get update -qq && apt-get install -y -qq time) >&2 || echo "note: apt-get install time failed" >&2
        fi
        [[ -x /usr/bin/time ]] && RSS_TOOL=gnu-time
    fi
    [[ "$RSS_TOOL" == rusage ]] && echo "note: peak RSS from getrusage(RUSAGE_CHILDREN) (/usr/bin/time unavailable or BENCH_FORCE_RUSAGE=1)" >&2
    return 0
}
