package leaderboard

import "context"

// BoardVoteByVote fits the board of o from votes read one by one (load), as dimension
// boards are, for tests that hold the counted-in-PostgreSQL board (aggregate) to it.
func (s *Store) BoardVoteByVote(ctx context.Context, projectID int64, o Options) (Board, error) {
	o.defaults()
	l, err := s.load(ctx, projectID, o, false)
	if err != nil {
		return Board{}, err
	}
	b, _, err := compute(l.entries, l.votes, l.judgments, o)
	return b, err
}
