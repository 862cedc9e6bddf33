package agent

import "os"

// fallbackIdentity is the identity of a file on systems without inodes: its
// name. Rotation by rename is then not recognised as a new stream.
func fallbackIdentity(fi os.FileInfo) string { return "name:" + fi.Name() }
