package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/robfig/cron/v3"
)

// For each schedule on stdin: "ok <runs in 2023 UTC>" or "err <message>".
func main() {
	sc := bufio.NewScanner(os.Stdin)
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for sc.Scan() {
		s, err := cron.ParseStandard(sc.Text())
		if err != nil {
			fmt.Println("err", err)
			continue
		}
		n := 0
		t := start.Add(-time.Nanosecond)
		for {
			t = s.Next(t)
			if t.IsZero() || !t.Before(end) {
				break
			}
			n++
			if n > 2000000 {
				break
			}
		}
		fmt.Println("ok", n)
	}
}
