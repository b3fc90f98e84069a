package clock_test

import (
	"fmt"
	"time"

	"github.com/droverhq/drover/clock"
)

// A fake clock moves only when the test moves it: a timer armed for a
// minute fires when the test has stepped a minute, not before.
func ExampleFake() {
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t := c.NewTimer(time.Minute)
	c.Advance(59 * time.Second)
	select {
	case <-t.C():
		fmt.Println("fired early")
	default:
		fmt.Println("not yet at", c.Now().Format(time.TimeOnly))
	}
	c.Advance(time.Second)
	fmt.Println("fired at", (<-t.C()).Format(time.TimeOnly))
	// Output:
	// not yet at 00:00:59
	// fired at 00:01:00
}
