// Package sinktest holds the test doubles that the tests of several sink
// packages share: a scripted fake of Segment's batch endpoint that records
// what it receives, a clock whose waits return at once, and builders of
// batches and messages of known sizes. Only tests import it.
package sinktest
