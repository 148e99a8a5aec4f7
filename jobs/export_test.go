package jobs

import "context"

// Kill stops the replica the way a dying one stops: running pieces are
// cancelled mid-way, not finished.
func (s *Service) Kill(ctx context.Context) error { return s.client.StopAndCancel(ctx) }
