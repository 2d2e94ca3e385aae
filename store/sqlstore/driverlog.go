package sqlstore

import (
	"fmt"
	"log/slog"

	"github.com/go-sql-driver/mysql"
)

// SetDriverLogger sends the MariaDB/MySQL driver's own messages (dropped
// connections it recovers from, such as "closing bad idle connection")
// to log at level Warn instead of the standard logger. It applies to the
// whole process. The driver's messages carry no DSN or password.
func SetDriverLogger(log *slog.Logger) {
	mysql.SetLogger(driverLogger{log})
}

type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) {
	l.log.Warn("mysql driver", "msg", fmt.Sprint(v...))
}
