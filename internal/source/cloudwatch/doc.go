// Package cloudwatch is the cloudwatch source kind: it reads the newest
// datapoint of CloudWatch metric statistics (Average, Sum, Maximum,
// Minimum, SampleCount or a percentile) over a window ending lag before
// now, since CloudWatch's newest minutes are still filling in.
//
// Every read of a source in a tick goes into one call: one GetMetricData
// request per 500 distinct statistics (its limit), so 600 groups cost two
// requests. The window is five of the longest period asked, ending at
// now−lag; a value's time (Value.At) is its datapoint's timestamp plus the
// period and the lag, when CloudWatch could have had it at the soonest, so
// a signal's stale time measures how far the metric has fallen behind, not
// CloudWatch's own delay. A statistic
// without a datapoint in the window has no value. The SDK makes a single
// attempt per request; throttling, 5xx and connection errors are retried
// by the source with its backoff, within its tries.
//
//	sources:
//	  aws-metrics:
//	    cloudwatch:
//	      region: eu-west-1
//	      lag: 2m
//	      period: 60s
//	groups:
//	  - name: orders
//	    signals:
//	      backlog:
//	        source: aws-metrics
//	        cloudwatch:
//	          namespace: AWS/SQS
//	          metric: ApproximateNumberOfMessagesVisible
//	          dimensions: {QueueName: "{{.Group}}-jobs"}
//	          stat: Maximum
package cloudwatch
