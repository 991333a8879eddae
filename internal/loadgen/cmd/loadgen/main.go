// Command loadgen is the load generator benchmarks run in a process of their own: it reads
// a loadgen.Config as JSON on standard input and writes a loadgen.Result as JSON.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/mentor-ai/mentor/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := loadgen.Main(ctx, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
