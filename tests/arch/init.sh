#!/bin/busybox sh
# /init of the make check-arch guest (tests/arch/check_arch.py builds its
# initramfs).  For each build in $BUILDS (/opt/shmcam/ARCH: the guest's
# own architecture, and on arm64 also armhf, run as 32-bit programs on
# the 64-bit kernel) it runs the checks and reports each on the console:
#
#   @@check-arch PASS|FAIL BUILD CHECK DETAIL   a check judged here
#   @@check-arch DATA BUILD NAME VALUE          a measurement the host
#                                               judges
#   @@check-arch TRACE BUILD PROGRAM CALLS      with TRACE=1: the system
#                                               calls made under the filter
#   @@check-arch END                            all done; power off
#
# Every wait has a deadline; the host kills the machine at its own.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp \
    /run
/bin/busybox --install -s
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=0755 run /run
ip link set lo up
. /etc/check-arch.conf

NAME=arch
CTL=/run/shmcam/$NAME.sock
URL=http://127.0.0.1:8080

report() {
	echo "@@check-arch $*"
}

# A log on the console, indented.
show() {
	sed 's/^/    | /' "$1"
}

# wait_for SECONDS COMMAND...: runs COMMAND until it succeeds; 1 if it
# has not by the deadline.
wait_for() {
	deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		usleep 100000
	done
}

# The process has exited (a zombie not yet waited for counts).
exited() {
	! grep -q '^State:[[:space:]]*[^Z]' "/proc/$1/status" 2>/dev/null
}

# stop NAME PID JOB: SIGTERM to PID, then the exit status of the shell's
# JOB (the program itself, or strace around it with TRACE=1), within
# 60 s.
stop() {
	kill -TERM "$2"
	if ! wait_for 60 exited "$2"; then
		kill -KILL "$2"
		wait "$3"
		report FAIL "$A" "sigterm:$1" "still running 60 s after SIGTERM"
		return
	fi
	wait "$3"
	rc=$?
	if [ "$rc" = 0 ]; then
		report PASS "$A" "sigterm:$1" "exit 0"
	else
		show "/tmp/$1.log"
		report FAIL "$A" "sigterm:$1" "exit status $rc"
	fi
}

# With TRACE=1, COMMAND under strace -f, its trace in /tmp/NAME.trace.
tracer() {
	[ "$TRACE" = 1 ] && echo "strace -f -qq -o /tmp/$1.trace"
}

# The calls made in a strace -f log by processes and threads under a
# filter (from the successful load on; threads a filtered one starts
# inherit it), leaving out processes the filter killed: their last call
# is the forbidden one a test provoked.
trace_calls() {
	awk '
	/ = 0$/ && /seccomp\(SECCOMP_SET_MODE_FILTER|prctl\(PR_SET_SECCOMP/ {
		on[$1] = 1; next }
	/\+\+\+ killed by SIGSYS/ { killed[$1] = 1 }
	!on[$1] { next }
	/clone3?\(|clone3? resumed>/ && $NF ~ /^[0-9]+$/ { on[$NF] = 1 }
	match($0, /^[0-9]+ +[a-z0-9_]+\(/) {
		s = substr($0, RSTART, RLENGTH - 1)
		sub(/^[0-9]+ +/, "", s)
		calls[$1 " " s] = 1 }
	END {
		for (k in calls) {
			split(k, f, " ")
			if (!killed[f[1]])
				print f[2] } }' "$1" | sort -u | tr '\n' ' '
}

report DATA - machine "$(uname -srm), $(grep -c ^processor /proc/cpuinfo)" \
    "CPU(s), $(grep -m1 -E '^(CPU part|model name)' /proc/cpuinfo)"

for A in $BUILDS; do
	B=/opt/shmcam/$A

	# ------------------------------------------------------ unit suites
	for s in check_ring check_ctl check_sandbox; do
		(cd /tmp && SHMCAM_BUILD=$B SHMCAM_SLOW=$SLOW \
		    CK_TIMEOUT_MULTIPLIER=$SLOW timeout 300 $(tracer "$s") \
		    "$B/$s") >"/tmp/$s.log" 2>&1
		rc=$?
		summary=$(grep -m1 '%: Checks' "/tmp/$s.log")
		if [ "$rc" = 0 ]; then
			report PASS "$A" "unit:$s" "$summary"
		else
			show "/tmp/$s.log"
			report FAIL "$A" "unit:$s" "exit status $rc: $summary"
		fi
	done

	# ------------------------------------------------------ the programs
	# The capture starts as root and drops to shmcam; the server runs as
	# viewer, a member of the capture's server group.  Both as systemd
	# runs them, notifying a service manager and pinging its watchdog
	# (sd_notify(3): its calls are under the filter too); no manager
	# listens here, which each logs once.
	notify="NOTIFY_SOCKET=/run/notify.sock WATCHDOG_USEC=2000000"
	rm -f /tmp/capture.log /tmp/server.log /tmp/first.jpg
	env $notify $(tracer capture) "$B/shmcam-capture" --name "$NAME" \
	    --ctl "$CTL" --source pattern --size "$SIZE" --fps "$FPS" \
	    --user shmcam --server-group shmcam >/tmp/capture.log 2>&1 &
	cap_job=$!
	srv_job=
	# Until the capture listens, or has died.
	listening() {
		test -S "$CTL" || exited "$cap_job"
	}
	# Until the server answers, or has died.
	answering() {
		wget -q -O /tmp/first.jpg "$URL/snapshot" 2>/dev/null ||
		    exited "$srv_job"
	}
	if wait_for 120 listening && ! exited "$cap_job"; then
		su -s /bin/sh -c "exec env $notify $(tracer server) \
		    $B/shmcam-server \
		    --name $NAME --ctl $CTL --listen 127.0.0.1:8080" viewer \
		    >/tmp/server.log 2>&1 &
		srv_job=$!
	fi
	if [ -n "$srv_job" ] && wait_for 120 answering &&
	    [ -s /tmp/first.jpg ]; then
		report PASS "$A" start "capture and server up, the server" \
		    "answers"
	else
		show /tmp/capture.log
		[ -f /tmp/server.log ] && show /tmp/server.log
		report FAIL "$A" start "no answer from $URL (a program" \
		    "exited, or 120 s passed)"
	fi
	cap=$(pidof shmcam-capture)
	srv=$(pidof shmcam-server)

	# shmcam-rtsp beside the server, as the same user, until its
	# /metrics say it has attached to the capture.
	rm -f /tmp/rtsp.log
	rtsp_job=
	if [ -n "$srv_job" ]; then
		su -s /bin/sh -c "exec env $notify $(tracer rtsp) \
		    $B/shmcam-rtsp --name $NAME --ctl $CTL \
		    --listen 127.0.0.1:8554 --http 127.0.0.1:8081" viewer \
		    >/tmp/rtsp.log 2>&1 &
		rtsp_job=$!
	fi
	rtsp_attached() {
		wget -q -O - http://127.0.0.1:8081/metrics 2>/dev/null |
		    grep -q "^shmcam_rtsp_attached{camera=\"$NAME\"} 1" ||
		    exited "$rtsp_job"
	}
	if [ -n "$rtsp_job" ] && wait_for 120 rtsp_attached &&
	    ! exited "$rtsp_job"; then
		report PASS "$A" rtsp "shmcam-rtsp attached to the capture"
	else
		[ -f /tmp/rtsp.log ] && show /tmp/rtsp.log
		report FAIL "$A" rtsp "shmcam-rtsp did not attach (it exited," \
		    "or 120 s passed)"
	fi
	rtsp=$(pidof shmcam-rtsp)

	for p in capture:$cap server:$srv rtsp:$rtsp; do
		line=$(grep '^Seccomp:' "/proc/${p#*:}/status" 2>/dev/null)
		case "$line" in
		*[[:space:]]2)
			report PASS "$A" "seccomp:${p%:*}" "$line (filter)";;
		*)
			report FAIL "$A" "seccomp:${p%:*}" \
			    "${line:-not running}";;
		esac
	done

	# Several seconds of the stream, every frame decoded (the host
	# judges the numbers), then a snapshot of the live picture.
	report DATA "$A" stream "$("$B/loadclient" -u "$URL/stream" -n 1 \
	    -d "$STREAM_SECONDS" --warmup 1 --decode 2>&1)"
	size=
	if wget -q -O /tmp/snapshot.jpg "$URL/snapshot" &&
	    size=$("$B/jpeginfo" /tmp/snapshot.jpg 2>&1) &&
	    [ "$size" = "$(echo "$SIZE" | tr x ' ')" ]; then
		report PASS "$A" snapshot "decodes, $size"
	else
		report FAIL "$A" snapshot "${size:-no snapshot}"
	fi

	if [ -n "$rtsp" ]; then
		stop rtsp "$rtsp" "$rtsp_job"
	else
		report FAIL "$A" sigterm:rtsp "not running"
	fi
	if [ -n "$srv" ]; then
		stop server "$srv" "$srv_job"
	else
		report FAIL "$A" sigterm:server "not running"
	fi
	if [ -n "$cap" ]; then
		stop capture "$cap" "$cap_job"
	else
		report FAIL "$A" sigterm:capture "not running"
	fi
	# Whatever is left of a failed start, before the next build's.
	kill -KILL $rtsp_job $srv_job $cap_job 2>/dev/null
	wait

	if [ "$TRACE" = 1 ]; then
		for p in capture server rtsp check_sandbox; do
			report TRACE "$A" "$p" "$(trace_calls "/tmp/$p.trace")"
		done
	fi
done

report END
poweroff -f
