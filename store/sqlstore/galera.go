package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// galeraSyncWait is the wsrep_sync_wait every connection to a Galera node
// sets: a causality check before reads (1: SELECT, SHOW, BEGIN) and before
// UPDATE and DELETE (2), so that each waits until the node has applied
// every transaction the cluster committed before it started.
//
// Galera commits a transaction once every node has certified it, and each
// node applies it a moment later; without the check (the default, 0) a
// node can answer from before a commit made through another one: a
// revoked session still live, a new account missing, a failed-login count
// behind (a throttle bypass). Reads need 1. UPDATE and DELETE outside a
// transaction need 2: on a node that has not applied the INSERT of a row
// yet, an update by id finds nothing, and RevokeSession would then report
// a session revoked that is not. A transaction waits once, at BEGIN, so
// the statements inside it see the same state. INSERT (4) is left out: a
// duplicate key is caught by certification (a conflict, retried) and the
// callers read the row an INSERT refers to first. Each check costs a
// round trip through the cluster.
const galeraSyncWait = "3"

// wsrepOn reports whether the server is a Galera node with replication on.
// MariaDB without Galera has the variable, OFF; MySQL does not have it.
func wsrepOn(ctx context.Context, pool *sql.DB) (bool, error) {
	var on sql.NullString
	err := pool.QueryRowContext(ctx, "SELECT @@wsrep_on").Scan(&on)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == mysqlErrUnknownSystemVar {
		return false, nil
	}
	if err != nil {
		if (mysqlDialect{}).isUnavailable(err) {
			return false, unavailable("open mysql", err)
		}
		return false, fmt.Errorf("sqlstore: open mysql: detect galera: %w", err)
	}
	return on.String == "1" || strings.EqualFold(on.String, "ON"), nil
}
