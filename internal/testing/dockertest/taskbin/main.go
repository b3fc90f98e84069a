// Command taskbin is the program of the docker driver's test image: a
// static binary, the image's only file, that does what a test asks.
//
//	serve          answer HTTP on $PORT (default 8080) with a greeting
//	sleep          run until SIGTERM or SIGINT, then exit 0
//	ignore-term    run, ignoring SIGTERM, until killed
//	hog MB         allocate and touch MB mebibytes, then run
//	exit CODE      exit with CODE
//	env            print the environment and exit 0
//
// Each mode prints a line to stdout and one to stderr first.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: task serve|sleep|ignore-term|hog MB|exit CODE|env")
		os.Exit(2)
	}
	mode := os.Args[1]
	fmt.Printf("task %s starting\n", mode)
	fmt.Fprintf(os.Stderr, "task %s on stderr\n", mode)
	sigs := make(chan os.Signal, 1)
	switch mode {
	case "serve":
		port := os.Getenv("PORT")
		if port == "" {
			port = "8080"
		}
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s\n", os.Getenv("NOMAD_ALLOC_ID"))
		})
		go func() {
			if err := http.ListenAndServe(":"+port, nil); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}()
		fmt.Printf("listening on %s\n", port)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		fmt.Printf("got %v\n", <-sigs)
	case "sleep":
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		fmt.Printf("got %v\n", <-sigs)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
		for range time.Tick(time.Hour) {
		}
	case "hog":
		mb, _ := strconv.Atoi(os.Args[2])
		var chunks [][]byte
		for i := 0; i < mb; i++ {
			c := make([]byte, 1<<20)
			for j := range c {
				c[j] = byte(j)
			}
			chunks = append(chunks, c)
		}
		fmt.Printf("holding %d MiB\n", len(chunks))
		for range time.Tick(time.Hour) {
			runtime.KeepAlive(chunks)
		}
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	case "env":
		env := os.Environ()
		sort.Strings(env)
		for _, kv := range env {
			fmt.Println(kv)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}
