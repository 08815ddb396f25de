// Package sqs is the sqs source kind: it reads how many messages an Amazon
// SQS queue holds, as GetQueueAttributes reports them (approximate, like
// every SQS count): visible (waiting), not_visible (received, not yet
// deleted) and delayed, summed as a signal asks.
//
// Reads are grouped by rendered queue: every group reading one queue costs
// one GetQueueAttributes a tick, asking exactly the attributes those reads
// need. A queue given by name is looked up once (GetQueueUrl) and its URL
// kept. A queue that does not exist has no value. The SDK makes a single
// attempt per call; throttling, 5xx and connection errors are retried by
// the source with its backoff, within its tries.
//
//	sources:
//	  queues:
//	    sqs:
//	      region: eu-west-1
//	      # default credential chain (environment, shared files, instance
//	      # role) unless keys are given:
//	      access_key_id: {env: EBB_SQS_KEY_ID}
//	      secret_access_key: {file: /run/secrets/sqs-secret}
//	groups:
//	  - name: thumbnails
//	    signals:
//	      backlog:
//	        source: queues
//	        sqs:
//	          queue: "{{.Group}}-jobs"
//	          count: [visible, not_visible]
package sqs
