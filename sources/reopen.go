package sources

import (
	"fmt"
	"io"
)

// Rewinder returns an open function for file sources built on a reader the
// caller owns: the first call hands r out as it is (at its start), later
// calls (a source reopened to resume) seek it back to the start, which only
// an io.Seeker allows. The Closer is always nil: the caller closes r. pkg
// and name prefix the errors.
func Rewinder(r io.Reader, pkg, name string) func() (io.Reader, io.Closer, error) {
	used := false
	return func() (io.Reader, io.Closer, error) {
		if used {
			sk, ok := r.(io.Seeker)
			if !ok {
				return nil, nil, fmt.Errorf("%s: %s: cannot reopen a reader that is not an io.Seeker", pkg, name)
			}
			if _, err := sk.Seek(0, io.SeekStart); err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", pkg, name, err)
			}
		}
		used = true
		return r, nil, nil
	}
}
