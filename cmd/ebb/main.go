// Command ebb is the autoscaling control plane: see `ebb --help`.
package main

import "github.com/ebb-autoscaler/ebb/internal/cli"

func main() { cli.Run() }
