// saasmetrics-gateway serves the saasmetrics gRPC API as REST/JSON, translating with
// grpc-gateway v1 from the google.api.http annotations in proto/saasmetrics/v1.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	// Registers google.rpc.BadRequest so error details render as JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"

	gw "saasmetrics/gen/saasmetrics/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address HOST:PORT")
	backend := flag.String("backend", "127.0.0.1:50051", "saasmetrics gRPC address HOST:PORT")
	portFile := flag.String("port_file", "", "if set, write the bound HTTP port here")
	flag.Parse()
	log.SetPrefix("saasmetrics-gateway: ")
	log.SetFlags(0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.JSONPb{OrigName: true, EmitDefaults: true}))
	opts := []grpc.DialOption{grpc.WithInsecure()}
	for _, register := range []func(context.Context, *runtime.ServeMux, string, []grpc.DialOption) error{
		gw.RegisterAdminServiceHandlerFromEndpoint,
		gw.RegisterIngestServiceHandlerFromEndpoint,
		gw.RegisterMetricsServiceHandlerFromEndpoint,
	} {
		if err := register(ctx, mux, *backend, opts); err != nil {
			log.Fatalf("--backend=%s: %v", *backend, err)
		}
	}
	root := http.NewServeMux()
	root.Handle("/", mux)
	root.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("--listen=%s: %v", *listen, err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatalf("--port_file=%s: %v", *portFile, err)
		}
	}
	log.Printf("listening http_port=%d backend=%s", port, *backend)
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(lis); err != nil && err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
}
