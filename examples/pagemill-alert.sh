#!/bin/sh
# pagemill-alert.sh: an [alerts] command for pagemill serve. pagemill runs
# it with one alert as a line of JSON on stdin:
#
#   {"alert":"job_failed","subject":"job 42","message":"work order ...",
#    "at":"2026-12-05T01:02:03Z","host":"scan1","catalog":"<id>","job":42}
#
# It writes the alert to syslog (facility daemon, priority warning) and,
# when MAILTO is set in the service's environment and a mail command is
# installed, mails it too. Use it as:
#
#   [alerts]
#   command = /path/to/pagemill-alert.sh
set -eu
alert=$(cat)
kind=$(printf '%s' "$alert" | sed -n 's/.*"alert":"\([a-z_]*\)".*/\1/p')
logger -p daemon.warning -t pagemill-alert -- "$alert"
if [ -n "${MAILTO:-}" ] && command -v mail >/dev/null 2>&1; then
    printf '%s\n' "$alert" |
        mail -s "pagemill alert: ${kind:-unknown} on $(hostname)" "$MAILTO"
fi
