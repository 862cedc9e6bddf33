package kafka_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/das-project/das/internal/kafkatest"
)

func TestMain(m *testing.M) {
	kafkatest.ServeBrokerIfChild()
	goleak.VerifyTestMain(m)
}
