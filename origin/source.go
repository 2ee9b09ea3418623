package origin

import "context"

// Source produces the segments of one live stream and publishes them into
// a [Stream] until its context ends. Run returns ctx.Err() when stopped and
// any other error when the source cannot go on.
type Source interface {
	Run(ctx context.Context, st *Stream) error
}
