package kafka

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// URI is a parsed das Kafka input URI:
//
//	kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?group=NAME&assign=direct|group&start=earliest|latest]
//
// Brokers are seed brokers; the client discovers the rest of the cluster.
type URI struct {
	Brokers []string
	Topic   string
	// Group is the consumer group: where offsets are mirrored for lag tools,
	// and, with Assign == AssignGroup, what hands out partitions. "" = none.
	Group  string
	Assign Assign
	Start  Start
}

// ParseURI parses a kafka:// input URI. Every query parameter it does not
// know is an error, so that a misspelt option does not go unnoticed.
func ParseURI(s string) (URI, error) {
	var u URI
	rest, ok := strings.CutPrefix(s, "kafka://")
	if !ok {
		return u, fmt.Errorf("%w: %q does not start with kafka://", ErrBadURI, s)
	}
	rest, query, _ := strings.Cut(rest, "?")
	hosts, topic, ok := strings.Cut(rest, "/")
	if !ok || topic == "" {
		return u, fmt.Errorf("%w: %q has no /TOPIC", ErrBadURI, s)
	}
	if err := validTopic(topic); err != nil {
		return u, fmt.Errorf("%w: %v", ErrBadURI, err)
	}
	u.Topic = topic
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return u, fmt.Errorf("%w: broker %q is not HOST:PORT", ErrBadURI, h)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return u, fmt.Errorf("%w: broker %q: port must be 1..65535", ErrBadURI, h)
		}
		u.Brokers = append(u.Brokers, h)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return u, fmt.Errorf("%w: query: %v", ErrBadURI, err)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return u, fmt.Errorf("%w: parameter %q given %d times", ErrBadURI, k, len(vs))
		}
		v := vs[0]
		switch k {
		case "group":
			if v == "" {
				return u, fmt.Errorf("%w: empty group", ErrBadURI)
			}
			u.Group = v
		case "assign":
			switch v {
			case "direct":
				u.Assign = AssignDirect
			case "group":
				u.Assign = AssignGroup
			default:
				return u, fmt.Errorf("%w: assign=%q, want direct or group", ErrBadURI, v)
			}
		case "start":
			switch v {
			case "earliest":
				u.Start = StartEarliest
			case "latest":
				u.Start = StartLatest
			default:
				return u, fmt.Errorf("%w: start=%q, want earliest or latest", ErrBadURI, v)
			}
		default:
			return u, fmt.Errorf("%w: unknown parameter %q (known: group, assign, start)", ErrBadURI, k)
		}
	}
	if u.Assign == AssignGroup && u.Group == "" {
		return u, fmt.Errorf("%w: assign=group needs group=NAME", ErrBadURI)
	}
	return u, nil
}

// String formats u back into URI form; ParseURI(u.String()) == u.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString("kafka://")
	b.WriteString(strings.Join(u.Brokers, ","))
	b.WriteByte('/')
	b.WriteString(u.Topic)
	q := url.Values{}
	if u.Group != "" {
		q.Set("group", u.Group)
	}
	if u.Assign == AssignGroup {
		q.Set("assign", "group")
	}
	if u.Start == StartLatest {
		q.Set("start", "latest")
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// validTopic applies Kafka's topic name rule: 1..249 characters from
// [a-zA-Z0-9._-], and not "." or "..".
func validTopic(t string) error {
	if len(t) == 0 || len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("topic %q: want 1..249 characters, not . or ..", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic %q: character %q not in [a-zA-Z0-9._-]", t, c)
		}
	}
	return nil
}
