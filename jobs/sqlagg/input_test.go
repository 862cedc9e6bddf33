package sqlagg

import (
	"strings"
	"testing"
)

// Inputs the job cannot read are refused at open with an error that says
// why and what to use instead.
func TestOpenInputErrors(t *testing.T) {
	for _, tc := range []struct {
		input, want string
	}{
		{"ftp://host/file", `unknown scheme "ftp"`},
		{"iface:eth0", "is an agent input"},
		{"perfschema:root@tcp(127.0.0.1:3306)/", "is an agent input"},
		{"kafka://127.0.0.1:9092/das.sql-events?group=g&assign=group", "assign=group is not supported by das run yet"},
		{"kafka://127.0.0.1:9092/das.sql-events?assign=group", "group"},
	} {
		t.Run(tc.input, func(t *testing.T) {
			src, _, err := openInput(Config{Input: tc.input})
			if err == nil {
				src.Close()
				t.Fatalf("opened %q", tc.input)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}
