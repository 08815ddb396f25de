// Package exec is the exec source kind: it runs a command and reads a number
// from what the command prints, or, with a path, reads each group's number
// from one JSON document, so one run answers many groups.
//
// Reads whose command renders to the same argument list share one run per
// tick; each distinct rendered path is looked up once in its output. The
// command runs without a shell, in its own process group, bounded by the
// call's timeout: when the timeout passes the whole group is killed (a
// shell's children too). An exit status other than 0 fails the call with
// the last line of stderr; 75 (EX_TEMPFAIL) means "try again" and is
// retried like a timeout, anything else is not. stdout is read up to 1 MiB.
//
//	sources:
//	  jobs:
//	    exec:
//	      dir: /srv/jobs
//	      timeout: 10s
//	      env:
//	        JOBS_TOKEN: {file: /run/secrets/jobs-token}
//	groups:
//	  - name: render
//	    signals:
//	      backlog:
//	        source: jobs
//	        exec:
//	          # prints {"render": 12, "encode": 3}: one run for both groups
//	          command: [/srv/jobs/bin/backlog, --json]
//	          path: "{{.Group}}"
//
// exec is standalone: a signal may use it without a named source, with the
// default limits, ebb's directory and no extra environment.
package exec
