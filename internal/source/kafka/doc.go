// Package kafka is the kafka source kind: it reads consumer groups' lag,
// the end offset of each partition minus the group's committed offset,
// summed over partitions (total) or the largest of one partition
// (max_partition).
//
// All the reads of a source in a tick make one call: kadm's Lag describes
// every distinct group asked, fetches their commits and lists the end
// offsets of their topics, a few requests per broker however many groups
// there are (checked with 200 groups: two DescribeGroups, two OffsetFetch,
// four ListOffsets on two brokers). A group that does not exist or has no
// commits (on the topic asked) has no value. Connection errors are retried
// by the source with backoff; a refused authentication is not.
//
//	sources:
//	  events:
//	    kafka:
//	      brokers: [kafka-1:9092, kafka-2:9092]
//	      tls: {ca_file: /etc/ebb/kafka-ca.pem}
//	      sasl:
//	        mechanism: scram-sha-512
//	        username: ebb
//	        password: {file: /run/secrets/kafka-password}
//	groups:
//	  - name: billing
//	    signals:
//	      lag:
//	        source: events
//	        kafka:
//	          group: "{{.Group}}-consumers"
//	          topic: invoices
//	          value: total
package kafka
