package registry_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
)

// A service registers itself as STARTING, says UP once ready, and calls
// another app's instances through the client's cache.
func Example() {
	registryURL, stop := startRegistry()
	defer stop()
	ctx := context.Background()

	// An instance of "billing" that the example calls.
	billing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "invoice for %s", r.URL.Query().Get("order"))
	}))
	defer billing.Close()
	billingClient, err := registry.New(registry.Options{
		Servers:  []string{registryURL},
		Instance: &registry.Instance{App: "billing", InstanceID: "billing-1", HostName: "localhost", IPAddr: "127.0.0.1", Port: portOf(billing.URL)},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := billingClient.Register(ctx); err != nil {
		log.Fatal(err)
	}

	// The service itself: it registers as STARTING, so that no one calls it
	// before it is ready.
	c, err := registry.New(registry.Options{
		Servers: []string{registryURL},
		Instance: &registry.Instance{App: "orders", InstanceID: "orders-1", HostName: "localhost", IPAddr: "127.0.0.1",
			Port: registry.Port{Number: 8080, Enabled: true}, Status: registry.StatusStarting},
		FetchInterval: 10 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Register(ctx); err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.Run(runCtx)   // renews every 30 s, refreshes every 10 s; failures go to slog and c.Err()
	defer c.Close(ctx) // stops Run and cancels the lease

	if err := c.SetStatus(ctx, registry.StatusUp); err != nil { // ready to serve
		log.Fatal(err)
	}
	if _, err := c.Refresh(ctx); err != nil { // Run refreshes too; here, not to wait for it
		log.Fatal(err)
	}
	resp, err := c.Do(ctx, "billing", registry.Request{Path: "/invoice?order=42"})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	in, _ := c.Next("orders")
	fmt.Println(in.ID(), in.Status)
	// Output:
	// invoice for 42
	// orders-1 UP
}
