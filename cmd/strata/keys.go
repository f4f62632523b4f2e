package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// authOptions is the authenticator's configuration from the server's.
func authOptions(cfg config) auth.Config {
	return auth.Config{
		AdminKey:     cfg.Auth.AdminKey,
		MetricsToken: cfg.MetricsToken,
		JWT: auth.JWTConfig{Secret: cfg.Auth.JWTSecret, JWKSFile: cfg.Auth.JWKSFile,
			Issuer: cfg.Auth.JWTIssuer, Audience: cfg.Auth.JWTAudience},
	}
}

func keysCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys in a data directory (with the server stopped; a running server has /api/keys)",
	}
	var (
		name  string
		roles []string
		admin bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key and print its token (shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if admin {
				roles = append(roles, core.RoleAdmin)
			}
			if name == "" {
				name = strings.Join(roles, "+")
			}
			return withKeys(cmd, func(ks *auth.Keys) error {
				k, token, err := ks.Create(cmd.Context(), name, roles, core.Principal{})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "created key %s (%s) with roles [%s]; the token is shown only now:\n",
					k.ID, k.Name, strings.Join(k.Roles, ", "))
				fmt.Fprintln(cmd.OutOrStdout(), token)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name for the key (default: its roles)")
	create.Flags().StringSliceVar(&roles, "role", nil, "a role of the key (repeatable)")
	create.Flags().BoolVar(&admin, "admin", false, "make it an administrator key")
	addServeFlags(create.Flags())

	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withKeys(cmd, func(ks *auth.Keys) error {
				keys, err := ks.List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLES\tCREATED")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Roles, ","), k.CreatedAt)
				}
				return tw.Flush()
			})
		},
	}
	addServeFlags(list.Flags())

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withKeys(cmd, func(ks *auth.Keys) error {
				return ks.Revoke(cmd.Context(), args[0])
			})
		},
	}
	addServeFlags(revoke.Flags())
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// withKeys opens the configured storage and runs fn on its key store.
func withKeys(cmd *cobra.Command, fn func(*auth.Keys) error) error {
	cfg, err := resolveConfig(cmd.Flags(), os.Getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return fmt.Errorf("create data directory %s: %w", cfg.Data, err)
	}
	store, err := storageRegistry().Open(cmd.Context(), cfg.storageURL(), storage.OpenOptions{})
	if err != nil {
		if errors.Is(err, bolt.ErrLocked) {
			return fmt.Errorf("%w (a server is using it: stop it, or use /api/keys with an admin token)", err)
		}
		return err
	}
	defer store.Close()
	return fn(auth.NewKeys(store))
}
