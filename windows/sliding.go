package windows

import (
	"fmt"
	"time"
)

// Sliding is a sliding event-time window of Size advancing by Slide, built
// from panes: each element is stored once, in the tumbling pane of length
// Slide that contains it, and a window's result is the merge of the
// Size/Slide panes it covers. State is never duplicated per window.
type Sliding struct {
	size, slide int64
	pane        Tumbling
}

// NewSliding returns a sliding window. Slide must divide Size.
func NewSliding(size, slide time.Duration) (Sliding, error) {
	p, err := NewTumbling(slide)
	if err != nil {
		return Sliding{}, err
	}
	s := size.Milliseconds()
	if s < p.size || s%p.size != 0 || time.Duration(s)*time.Millisecond != size {
		return Sliding{}, fmt.Errorf("%w: sliding size %v must be a whole multiple of the slide %v", ErrInvalid, size, slide)
	}
	return Sliding{size: s, slide: p.size, pane: p}, nil
}

// Size and Slide in ms.
func (s Sliding) Size() int64  { return s.size }
func (s Sliding) Slide() int64 { return s.slide }

// Pane returns the pane assigner (a tumbling window of Slide).
func (s Sliding) Pane() Tumbling { return s.pane }

// PanesPerWindow is Size/Slide.
func (s Sliding) PanesPerWindow() int { return int(s.size / s.slide) }

// WindowEnds returns the ends of the windows that contain the pane ending
// at paneEnd, oldest first.
func (s Sliding) WindowEnds(paneEnd int64) []int64 {
	n := s.PanesPerWindow()
	out := make([]int64, n)
	for i := range out {
		out[i] = paneEnd + int64(i)*s.slide
	}
	return out
}

// PaneEnds returns the ends of the panes that make up the window ending at
// windowEnd, oldest first.
func (s Sliding) PaneEnds(windowEnd int64) []int64 {
	n := s.PanesPerWindow()
	out := make([]int64, n)
	for i := range out {
		out[i] = windowEnd - s.size + int64(i+1)*s.slide
	}
	return out
}

// LastWindowEnd is the end of the last window containing the pane ending at
// paneEnd: the pane's state must live until that window is TooLate.
func (s Sliding) LastWindowEnd(paneEnd int64) int64 { return paneEnd + s.size - s.slide }
