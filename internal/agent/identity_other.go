//go:build !unix

package agent

import "os"

func fileIdentity(fi os.FileInfo) string { return fallbackIdentity(fi) }
