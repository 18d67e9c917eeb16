using System.Diagnostics;
using System.Text;

namespace PapaActors.Tests.Support;

/// <summary>
/// The real `papa` program as a running child process that a test can watch, signal and kill -9; every wait
/// has a timeout that fails the test with the program's output.
/// </summary>
public sealed class PapaProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private PapaProcess(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["PAPA_DLL"] = PapaDll;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private static string PapaDll => Path.Combine(AppContext.BaseDirectory, "papa.dll");

    public static PapaProcess Start(params string[] arguments) => new("dotnet", [PapaDll, .. arguments]);

    /// <summary>A script of scripts/, using this build of papa (PAPA_DLL).</summary>
    public static PapaProcess StartScript(string script, params string[] arguments) =>
        new("bash", [RepositoryFiles.Path("scripts", script), .. arguments]);

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
                throw new InvalidOperationException($"papa exited ({_process.ExitCode}) before {what}:\n{Output}");
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"no {what} within {timeout}:\n{Output}");
            Thread.Sleep(5);
        }
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"papa did not exit within {timeout}:\n{Output}");
        }
        _process.WaitForExit(); // drains the output
        return _process.ExitCode;
    }

    /// <summary>kill -9: no handler runs, nothing is flushed or renamed.</summary>
    public void KillHard()
    {
        Signal("KILL");
        WaitForExit(TimeSpan.FromSeconds(30));
    }

    /// <summary>What Ctrl-C in a terminal sends.</summary>
    public void Interrupt() => Signal("INT");

    private void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, _process.Id.ToString()]);
        if (!kill.WaitForExit(TimeSpan.FromSeconds(10)) || kill.ExitCode != 0)
            throw new InvalidOperationException($"kill -{name} {_process.Id} failed");
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
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
