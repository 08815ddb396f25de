// Package rabbitmq is the rabbitmq source kind: a queue's depth (ready,
// unacknowledged or both) or its consumers, read from RabbitMQ's
// management HTTP API (the rabbitmq_management plugin).
//
// One call, GET /api/queues/{vhost}?columns=name,messages_ready,
// messages_unacknowledged,consumers, lists every queue of the vhost, so a
// tick costs one HTTP request per source however many groups and queues
// read it. The numbers are the node's statistics, which its management
// agent samples every 5s by default (the smallest interval of
// management.sample_retention_policies): a value may be that old. A
// queue that does not exist, or whose statistics are not collected yet, is
// no value.
//
//	sources:
//	  broker:
//	    rabbitmq:
//	      url: http://rabbit:15672
//	      basic_auth:
//	        username: ebb            # a user with the monitoring tag
//	        password: {env: RABBITMQ_PASSWORD}
//	      vhost: /
//	groups:
//	  - name: thumbnailer
//	    signals:
//	      backlog:
//	        source: broker
//	        rabbitmq:
//	          queue: "{{.Group}}.jobs"
//	          value: messages       # ready + unacked
//
// 5xx, 429, timeouts and refused or reset connections are retried; 401 (a
// wrong password: the error names the user, never the password), 403 and a
// vhost that does not exist are not.
package rabbitmq
