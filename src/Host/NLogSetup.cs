using NLog;
using NLog.Config;
using NLog.Targets;

namespace PapaActors.Host;

/// <summary>Console (warnings and errors) plus, once the run folder is known, a detailed log file in it.</summary>
internal static class NLogSetup
{
    /// <summary>The log file in a run folder.</summary>
    public const string LogFile = "run.log";

    private const string Layout = "${longdate} ${level:uppercase=true:padding=-5} ${logger:shortName=true}: ${message}${onexception:inner= ${exception:format=ToString}}";

    public static void Configure(string? logFile, bool verbose)
    {
        var config = new LoggingConfiguration();
        var console = new ConsoleTarget("console") { Layout = "${level:uppercase=true}: ${message}${onexception:inner= (${exception:format=Message})}", StdErr = true };
        config.AddRule(verbose ? LogLevel.Info : LogLevel.Warn, LogLevel.Fatal, console);
        if (logFile is not null)
            config.AddRule(LogLevel.Debug, LogLevel.Fatal, new FileTarget("file") { FileName = logFile, Layout = Layout, KeepFileOpen = true, AutoFlush = true });
        LogManager.Configuration = config;
    }

    public static void Shutdown() => LogManager.Shutdown();
}
