package rlhf

import "github.com/mentor-ai/mentor/llm"

// Status is a candidate's state. The set is the one migrations/00004's CHECK allows
// (TestStatusesMatchTheSchema holds them together); every Go and SQL use of a status goes
// through these names, so a status cannot be misspelt in one place.
type Status string

// The candidate statuses.
const (
	StatusStreaming   Status = "streaming"   // a replica is streaming it now (see owner and lease_until)
	StatusComplete    Status = "complete"    // the model said it was finished
	StatusCancelled   Status = "cancelled"   // the trainer stopped it
	StatusFailed      Status = "failed"      // the endpoint refused or reported an error
	StatusInterrupted Status = "interrupted" // it ended without finishing: a stop, a crash, a lost lease
)

// Statuses lists every status, streaming first.
var Statuses = []Status{StatusStreaming, StatusComplete, StatusCancelled, StatusFailed, StatusInterrupted}

// FinishedStatuses are the statuses a candidate can end in.
var FinishedStatuses = []Status{StatusComplete, StatusCancelled, StatusFailed, StatusInterrupted}

// StatusOf is the candidate status of a stream that ended with s.
func StatusOf(s llm.Status) Status {
	switch s {
	case llm.Complete:
		return StatusComplete
	case llm.Cancelled:
		return StatusCancelled
	case llm.Failed:
		return StatusFailed
	default:
		return StatusInterrupted
	}
}

// Finished reports whether s is a final status.
func (s Status) Finished() bool { return s != StatusStreaming && s != "" }
