package blobtest

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// AzuriteEnv names the environment variable that holds the path of
// Azurite's azurite-blob program; make test installs Azurite and sets it.
const AzuriteEnv = "BACKFILL_AZURITE_BLOB"

// The development account that Azurite documents.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azure starts Azurite's blob service on 127.0.0.1 holding an empty
// container named name, until the test ends, and sets the test's
// environment to its development account. Without Azurite (AzuriteEnv
// unset, as under a plain go test), the test is skipped with a message
// saying how to run it; make test installs Azurite and runs it.
func Azure(t testing.TB, name string) *Server {
	t.Helper()
	bin := os.Getenv(AzuriteEnv)
	if bin == "" {
		t.Skipf("Azurite is not installed: %s is unset (make test installs Azurite and sets it)", AzuriteEnv)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("blobtest: %v", err)
	}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("blobtest: start Azurite (%s): %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitListening(addr, 30*time.Second); err != nil {
		t.Fatalf("blobtest: Azurite did not start on %s: %v", addr, err)
	}
	s := &Server{Scheme: "azblob", Bucket: name, Addr: addr}
	s.reach(t)
	s.open(t)
	var c *container.Client
	if !s.bucket.As(&c) {
		t.Fatalf("blobtest: the Azure bucket is not a *container.Client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("blobtest: create container %s: %v", name, err)
	}
	return s
}
