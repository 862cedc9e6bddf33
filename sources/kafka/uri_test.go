package kafka_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/das-project/das/sources/kafka"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want kafka.URI // zero Topic: an error is expected
	}{
		{"kafka://127.0.0.1:9092/das.sql-events", kafka.URI{Brokers: []string{"127.0.0.1:9092"}, Topic: "das.sql-events"}},
		{"kafka://a:1,b:2,[::1]:9093/t", kafka.URI{Brokers: []string{"a:1", "b:2", "[::1]:9093"}, Topic: "t"}},
		{"kafka://k:9092/t?group=das", kafka.URI{Brokers: []string{"k:9092"}, Topic: "t", Group: "das"}},
		{"kafka://k:9092/t?group=das&assign=group&start=latest", kafka.URI{Brokers: []string{"k:9092"}, Topic: "t", Group: "das", Assign: kafka.AssignGroup, Start: kafka.StartLatest}},
		{"kafka://k:9092/t?assign=direct&start=earliest", kafka.URI{Brokers: []string{"k:9092"}, Topic: "t"}},
		{"kafka://k:9092/t?group=a%20b", kafka.URI{Brokers: []string{"k:9092"}, Topic: "t", Group: "a b"}},
		{"kfk://k:9092/t", kafka.URI{}},
		{"kafka://k:9092", kafka.URI{}},
		{"kafka://k:9092/", kafka.URI{}},
		{"kafka:///t", kafka.URI{}},
		{"kafka://k/t", kafka.URI{}},
		{"kafka://:9092/t", kafka.URI{}},
		{"kafka://k:0/t", kafka.URI{}},
		{"kafka://k:65536/t", kafka.URI{}},
		{"kafka://k:x/t", kafka.URI{}},
		{"kafka://k:1,/t", kafka.URI{}},
		{"kafka://k:1/a/b", kafka.URI{}},
		{"kafka://k:1/..", kafka.URI{}},
		{"kafka://k:1/t?group=", kafka.URI{}},
		{"kafka://k:1/t?assign=group", kafka.URI{}},
		{"kafka://k:1/t?assign=random", kafka.URI{}},
		{"kafka://k:1/t?start=middle", kafka.URI{}},
		{"kafka://k:1/t?grop=x", kafka.URI{}},
		{"kafka://k:1/t?group=a&group=b", kafka.URI{}},
		{"kafka://k:1/t?%zz", kafka.URI{}},
	} {
		got, err := kafka.ParseURI(tc.in)
		if tc.want.Topic == "" {
			if !errors.Is(err, kafka.ErrBadURI) {
				t.Errorf("ParseURI(%q) = %+v, %v; want ErrBadURI", tc.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		again, err := kafka.ParseURI(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseURI(%q.String() = %q) = %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"kafka://127.0.0.1:9092/das.sql-events",
		"kafka://a:1,b:2,[::1]:9093/t?group=das&assign=group&start=latest",
		"kafka://k:1/t?group=a%20b",
		"kafka://k:1/t?%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := kafka.ParseURI(s)
		if err != nil {
			if !errors.Is(err, kafka.ErrBadURI) {
				t.Fatalf("error %v does not wrap ErrBadURI", err)
			}
			return
		}
		again, err := kafka.ParseURI(u.String())
		if err != nil || !reflect.DeepEqual(again, u) {
			t.Fatalf("round trip of %q via %q: %+v, %v; want %+v", s, u.String(), again, err, u)
		}
	})
}

func TestNewValidates(t *testing.T) {
	ok := kafka.Options{Brokers: []string{"k:1"}, Topic: "t"}
	for _, tc := range []struct {
		name string
		mod  func(*kafka.Options)
	}{
		{"no brokers", func(o *kafka.Options) { o.Brokers = nil }},
		{"no topic", func(o *kafka.Options) { o.Topic = "" }},
		{"bad topic", func(o *kafka.Options) { o.Topic = "a/b" }},
		{"group assign without group", func(o *kafka.Options) { o.Assign = kafka.AssignGroup }},
		{"group assign and StopAtEnd", func(o *kafka.Options) { o.Assign, o.Group, o.StopAtEnd = kafka.AssignGroup, "g", true }},
		{"group assign and Partitions", func(o *kafka.Options) { o.Assign, o.Group, o.Partitions = kafka.AssignGroup, "g", []int32{0} }},
		{"unknown assign", func(o *kafka.Options) { o.Assign = 7 }},
		{"unknown start", func(o *kafka.Options) { o.Start = 7 }},
		{"negative poll timeout", func(o *kafka.Options) { o.PollTimeout = -1 }},
		{"repeated partition", func(o *kafka.Options) { o.Partitions = []int32{1, 1} }},
		{"negative partition", func(o *kafka.Options) { o.Partitions = []int32{-1} }},
	} {
		o := ok
		tc.mod(&o)
		if _, err := kafka.New(o); !errors.Is(err, kafka.ErrBadOptions) {
			t.Errorf("%s: New = %v, want ErrBadOptions", tc.name, err)
		}
	}
	if _, err := kafka.New(ok); err != nil {
		t.Fatalf("New(%+v) = %v", ok, err)
	}
}
