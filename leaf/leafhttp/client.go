package leafhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/das-project/das/leaf"
)

// Client is a leaf.Generator backed by a remote `das leaf serve`. Errors
// the server answered with are mapped back to the leaf sentinels (404 →
// leaf.ErrTagNotFound, 503 → leaf.ErrSegmentsExhausted for segment mode or
// leaf.ErrLeaseExpired for snowflake mode), wrapped with the server's
// message.
type Client struct {
	// BaseURL is the service root, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// Mode is "segment" or "snowflake".
	Mode string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client used. Default http.DefaultClient.
	HTTP *http.Client
}

// NextID returns the next ID of tag.
func (c *Client) NextID(ctx context.Context, tag string) (int64, error) {
	ids, err := c.get(ctx, tag, 0)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// NextIDs returns n IDs of tag.
func (c *Client) NextIDs(ctx context.Context, tag string, n int) ([]int64, error) {
	if n < 1 {
		return nil, leaf.ErrInvalidCount
	}
	return c.get(ctx, tag, n)
}

func (c *Client) get(ctx context.Context, tag string, n int) ([]int64, error) {
	if c.Mode != "segment" && c.Mode != "snowflake" {
		return nil, fmt.Errorf("leafhttp: Client.Mode %q: want segment or snowflake", c.Mode)
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + "/api/" + c.Mode + "/get/" + url.PathEscape(tag)
	if n > 0 {
		u += "?count=" + strconv.Itoa(n)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("leafhttp: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("leafhttp: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		switch resp.StatusCode {
		case http.StatusNotFound:
			return nil, fmt.Errorf("%w (server: %s)", leaf.ErrTagNotFound, msg)
		case http.StatusServiceUnavailable:
			if c.Mode == "segment" {
				return nil, fmt.Errorf("%w (server: %s)", leaf.ErrSegmentsExhausted, msg)
			}
			return nil, fmt.Errorf("%w (server: %s)", leaf.ErrLeaseExpired, msg)
		default:
			return nil, fmt.Errorf("leafhttp: %s: %s", resp.Status, msg)
		}
	}
	want := max(n, 1)
	ids, err := ParseIDs(body)
	if err != nil {
		return nil, err
	}
	if len(ids) != want {
		return nil, fmt.Errorf("leafhttp: got %d IDs, asked for %d", len(ids), want)
	}
	return ids, nil
}

// ParseIDs decodes an ID response body: decimal IDs separated by newlines
// (a trailing newline is optional; CRLF is accepted).
func ParseIDs(body []byte) ([]int64, error) {
	body = bytes.TrimSuffix(body, []byte("\n"))
	body = bytes.TrimSuffix(body, []byte("\r"))
	if len(body) == 0 {
		return nil, errors.New("leafhttp: empty ID response")
	}
	var ids []int64
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		id, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("leafhttp: bad ID line %q", line)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

var _ leaf.Generator = (*Client)(nil)
