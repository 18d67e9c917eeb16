using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using NLog;

namespace PapaActors.Actors.Logging;

/// <summary>
/// Routes Akka's log events to NLog, one NLog logger per log source (the actor's class or path), so NLog's
/// rules and targets apply to Akka logs too. Written here because no Akka.Logger.NLog package is available.
/// Registered in hocon/akka.conf under akka.loggers.
/// </summary>
public sealed class NLogLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public NLogLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(Write);
    }

    private static void Write(LogEvent e)
    {
        var level = e.LogLevel() switch
        {
            Akka.Event.LogLevel.DebugLevel => NLog.LogLevel.Debug,
            Akka.Event.LogLevel.InfoLevel => NLog.LogLevel.Info,
            Akka.Event.LogLevel.WarningLevel => NLog.LogLevel.Warn,
            _ => NLog.LogLevel.Error,
        };
        var logger = LogManager.GetLogger(LoggerName(e));
        if (!logger.IsEnabled(level))
            return;
        var entry = LogEventInfo.Create(level, logger.Name, e.Cause, null, e.Message?.ToString() ?? "");
        entry.Properties["akkaSource"] = e.LogSource;
        entry.Properties["thread"] = e.Thread.ManagedThreadId;
        logger.Log(entry);
    }

    private static string LoggerName(LogEvent e) => e.LogClass?.FullName ?? e.LogSource ?? "Akka";
}
