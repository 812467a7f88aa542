// Package natsbus is the NATS JetStream transport of a host.Host: it takes
// beamline ExecAssignments from the durable pull consumer that every
// blockhost of a cluster shares, runs them as steps, and answers with
// ExecAssignmentAcks, ExecResults, dead letters and WorkerHeartbeats on the
// beamline subjects (see docs/scaling.md).
//
// Delivery is at least once and execution at most once: a host claims an
// assignment in a JetStream key-value bucket before it runs it, renews the
// claim's lease and the message's ack timer while the step runs, records the
// result in the claim, publishes it (with Nats-Msg-Id, so JetStream drops
// duplicates) and only then acknowledges the message. A redelivered
// assignment is answered from its claim and never run twice; one whose
// claimer stopped renewing its lease gets an error result (the step may
// have run partly) instead of a second run.
//
// Start connects (or uses Options.Conn), creates the stream, the consumer
// and the bucket when they are absent, and starts consuming; Bus.Close
// stops fetching, waits for the steps in flight and drains the connection.
// The package reads no environment and no flags. A Bus is safe for
// concurrent use. The in-process server for a one-machine demo is in
// package natsembed.
package natsbus
