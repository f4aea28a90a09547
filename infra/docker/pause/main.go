// The pod sandbox ("pause") process of the test cluster's containerd (scripts/cluster.sh):
// holds the pod's namespaces, reaps zombies as PID 1, and exits on SIGINT/SIGTERM.
// Built as a static binary into a FROM-scratch image, since no registry can be pulled from.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("smith-pause\n")
		return
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
