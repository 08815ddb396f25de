package providertest

// script is the instance the suite runs. Its arguments are ID PORT ZONE GROUP
// ADDR, and the same values come in as EBB_TEST_* variables. It prints what it
// was given, then "leader: ready" and "child: ready" once its traps are set,
// and "leader: usr1" / "child: usr1" on SIGUSR1, the child line proving that
// signals reach the whole process group. On SIGTERM it prints "leader: term"
// and exits, except in group "stubborn", where SIGTERM is ignored (by the
// child too: ignored signals are inherited). Both loops end on their own after
// about 60 s, so nothing outlives a crashed test by long, and the child's also
// ends when the leader is gone: a SIGTERM that comes before the child is
// forked reaches only the leader, and providers do not chase a group whose
// leader has exited.
const script = `
echo "args id=$1 port=$2 zone=$3 group=$4 addr=$5"
echo "env id=$EBB_TEST_ID port=$EBB_TEST_PORT zone=$EBB_TEST_ZONE group=$EBB_TEST_GROUP addr=$EBB_TEST_ADDR"
if [ "$4" = stubborn ]; then
	trap '' TERM
else
	trap 'echo "leader: term"; exit 0' TERM
fi
trap 'echo "leader: usr1"' USR1
(
	trap 'echo "child: usr1"' USR1
	echo "child: ready"
	i=0
	while [ $i -lt 1200 ] && kill -0 $$ 2>/dev/null; do sleep 0.05; i=$((i+1)); done
) &
echo "leader: ready"
i=0
while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
`

// StubbornGroup is the group whose instances ignore SIGTERM.
const StubbornGroup = "stubborn"

// Command returns the command line, in the template syntax of local
// providers ({{.ID}} and so on), that a provider under test must run.
func Command() []string {
	return []string{"/bin/sh", "-c", script, "ebb-test", "{{.ID}}", "{{.Port}}", "{{.Zone}}", "{{.Group}}", "{{.Addr}}"}
}

// Env returns the environment templates a provider under test must set.
func Env() map[string]string {
	return map[string]string{
		"EBB_TEST_ID":    "{{.ID}}",
		"EBB_TEST_PORT":  "{{.Port}}",
		"EBB_TEST_ZONE":  "{{.Zone}}",
		"EBB_TEST_GROUP": "{{.Group}}",
		"EBB_TEST_ADDR":  "{{.Addr}}",
	}
}
