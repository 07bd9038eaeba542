package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/store/postgres"
	"github.com/backchannel/backchannel/store/sqlite"
)

func newMigrateCommand(env *cliEnv) *cobra.Command {
	var configPath, db string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or list the database schema migrations",
		Long: `Apply or list the database schema migrations.

The database is chosen as serve chooses it: --db, else BACKCHANNEL_DB,
else the db of the --config file, else sqlite:<data_dir>/backchannel.db.
serve applies pending migrations itself when it starts; migrate up lets
a deployment apply them first, and migrate status shows where a database
stands without changing it.`,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown migrate command %q; want up or status", args[0])
			}
			return fmt.Errorf("migrate needs a command: up or status")
		},
	}
	cmd.PersistentFlags().StringVar(&configPath, "config", "", "YAML configuration file")
	cmd.PersistentFlags().StringVar(&db, "db", "", "database: sqlite:PATH or a postgres:// URL")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	dsnOf := func(cmd *cobra.Command) (string, error) {
		flags := map[string]any{}
		if cmd.Flags().Changed("db") {
			flags["db"] = db
		}
		return migrateDSN(configPath, env.getenv, flags)
	}

	up := &cobra.Command{
		Use:   "up",
		Short: "Apply the pending migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, err := dsnOf(cmd)
			if err != nil {
				return err
			}
			before, err := migrationStatus(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			if err := migrateUp(cmd.Context(), dsn); err != nil {
				return err
			}
			after, err := migrationStatus(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.stdout, after)
			}
			applied := 0
			for i, m := range after {
				if m.Applied && (i >= len(before) || !before[i].Applied) {
					fmt.Fprintf(env.stdout, "applied %s\n", m.Name)
					applied++
				}
			}
			if applied == 0 {
				fmt.Fprintln(env.stdout, "no pending migrations")
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List every migration and whether the database has it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, err := dsnOf(cmd)
			if err != nil {
				return err
			}
			states, err := migrationStatus(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.stdout, states)
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
			for _, m := range states {
				applied := "pending"
				if m.Applied {
					applied = m.AppliedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, applied)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(up, status)
	return cmd
}

// migrateDSN resolves the database as serve does: flags, then
// BACKCHANNEL_DB, then the config file, then the default file in the
// data directory.
func migrateDSN(configPath string, getenv func(string) string, flags map[string]any) (string, error) {
	cfg, err := loadConfig(configPath, getenv, flags)
	if err != nil {
		return "", err
	}
	if cfg.DB == "" {
		return "sqlite:" + filepath.Join(cfg.DataDir, "backchannel.db"), nil
	}
	return cfg.DB, nil
}

// migration is one line of `migrate status`, the same for every backend.
type migration struct {
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// isPostgres reports whether dsn names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// migrateUp applies the pending migrations of the database dsn names.
func migrateUp(ctx context.Context, dsn string) error {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqlite.Migrate(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case isPostgres(dsn):
		return postgres.Migrate(ctx, dsn)
	}
	return fmt.Errorf("db %s must be sqlite:PATH or a postgres:// URL", redactDSN(dsn))
}

// migrationStatus lists the migrations of the database dsn names.
func migrationStatus(ctx context.Context, dsn string) ([]migration, error) {
	var out []migration
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		states, err := sqlite.MigrationStatus(ctx, strings.TrimPrefix(dsn, "sqlite:"))
		if err != nil {
			return nil, err
		}
		for _, m := range states {
			out = append(out, migration(m))
		}
	case isPostgres(dsn):
		states, err := postgres.MigrationStatus(ctx, dsn)
		if err != nil {
			return nil, err
		}
		for _, m := range states {
			out = append(out, migration(m))
		}
	default:
		return nil, fmt.Errorf("db %s must be sqlite:PATH or a postgres:// URL", redactDSN(dsn))
	}
	return out, nil
}
