// Package operators holds the keyed operators of das jobs: the event-time
// window aggregate with pre-aggregation, compensation for late data and
// dead-lettering of what is too late, and the dead-letter output itself.
package operators
