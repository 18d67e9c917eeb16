using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace PapaActors.Tests.Support;

/// <summary>
/// The real `papa` program (or a script of scripts/ using it) as a child process, where the process itself is under
/// test: signals, kill -9, exit codes of a run, scripts. A test runs it to its end (<see cref="Run(string[])"/>) or
/// watches, signals and kills it while it runs (<see cref="Start"/>); every wait has a timeout that fails the test
/// with the program's output, and a program left running is killed with its children.
/// </summary>
public sealed class PapaProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _name;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PapaProcess(string name, string program, IEnumerable<string> arguments)
    {
        _name = name;
        // A test run started in the background of a script (`./papa test &`) ignores SIGINT, and a child inherits
        // that: .NET and bash keep ignoring it, and Ctrl-C would not reach the program. env gives it the defaults.
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["--default-signal=INT,TERM", program, .. arguments])
            start.ArgumentList.Add(argument);
        start.Environment["PAPA_DLL"] = PapaDll;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(e.Data, _outputClosed);
        _process.ErrorDataReceived += (_, e) => Append(e.Data, _errorClosed);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private static string PapaDll => Path.Combine(AppContext.BaseDirectory, "papa.dll");

    public static PapaProcess Start(params string[] arguments) => new($"papa {string.Join(' ', arguments)}", "dotnet", [PapaDll, .. arguments]);

    /// <summary>A script of scripts/, using this build of papa (PAPA_DLL).</summary>
    public static PapaProcess StartScript(string script, params string[] arguments) =>
        new($"scripts/{script}", "bash", [RepositoryFiles.Path("scripts", script), .. arguments]);

    /// <summary>A bash command line with its <paramref name="arguments"/> in "$@" and this build of papa in $PAPA_DLL; <paramref name="name"/> names it in errors.</summary>
    public static PapaProcess StartShell(string name, string command, params string[] arguments) => new(name, "bash", ["-c", command, "bash", .. arguments]);

    /// <summary>papa run to its end: its exit code and output (stdout and stderr, line by line as they came).</summary>
    public static Cli.Result Run(params string[] arguments) => Run(Timeouts.Run, arguments);

    public static Cli.Result Run(TimeSpan timeout, params string[] arguments)
    {
        using var papa = Start(arguments);
        return papa.Finish(timeout);
    }

    /// <summary>Waits for the end (see <see cref="WaitForExit"/>): the exit code and the whole output.</summary>
    public Cli.Result Finish(TimeSpan timeout) => new(WaitForExit(timeout), Output);

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; the program ending first, or the timeout, fails the test.</summary>
    public void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{_name} exited ({_process.ExitCode}) before {what}:\n{Output}");
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"no {what} within {timeout}:\n{Output}");
            Thread.Sleep(5);
        }
    }

    /// <summary>
    /// Waits until the program has exited and its output has ended (which is when every process holding its pipes,
    /// such as a script's background nodes, has exited); past <paramref name="timeout"/> it kills the whole process
    /// tree and throws a <see cref="TimeoutException"/> naming the program.
    /// </summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!Task.WhenAll(_outputClosed.Task, _errorClosed.Task, _process.WaitForExitAsync()).Wait(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{_name} did not finish within {timeout}; it was killed:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>kill -9: no handler runs, nothing is flushed or renamed.</summary>
    public void KillHard()
    {
        Signal(SigKill);
        WaitForExit(TimeSpan.FromSeconds(30));
    }

    /// <summary>What Ctrl-C in a terminal sends.</summary>
    public void Interrupt() => Signal(SigInt);

    private const int SigInt = 2;
    private const int SigKill = 9;

    /// <summary>
    /// libc's kill(2), sent now: a `kill` child process would first have to start on a busy machine. Never to a program
    /// that has exited: its number may already name another process, or a thread of this one.
    /// </summary>
    private void Signal(int signal)
    {
        if (_process.HasExited)
            throw new InvalidOperationException($"{_name} exited with {_process.ExitCode} before it could be sent signal {signal}:\n{Output}");
        if (kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill -{signal} {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private void Append(string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }
        lock (_output)
            _output.AppendLine(line);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
