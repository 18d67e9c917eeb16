using System.Net;
using System.Net.Sockets;

namespace PapaActors.Tests.Support;

/// <summary>
/// Ports on 127.0.0.1 for programs that must be told theirs before they start (a seed node's address is given
/// to the other nodes). Never a random pick, which may be taken; where a program can bind port 0 and say which
/// port it got, tests do that instead.
/// </summary>
public static class LoopbackPorts
{
    private const int Attempts = 3;

    /// <summary>
    /// A port free now: the OS picks it from its ephemeral range (a bind to port 0), which it cycles through
    /// before handing the same port out again.
    /// </summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>What papa (Akka.Remote) prints when its port is taken.</summary>
    public static string BindFailure(int port) => $"Failed to bind to [127.0.0.1:{port}]";

    /// <summary>
    /// Runs <paramref name="attempt"/> on a <see cref="Free"/> port. If it fails because another process took
    /// that port before the program bound it (its exception's message holds <see cref="BindFailure"/>), it runs
    /// again on another port, up to 3 times in all; then it throws an error naming the ports.
    /// </summary>
    public static T Run<T>(Func<int, T> attempt)
    {
        var taken = new List<int>();
        while (true)
        {
            var port = Free();
            try
            {
                return attempt(port);
            }
            catch (Exception e) when (e.Message.Contains(BindFailure(port), StringComparison.Ordinal))
            {
                taken.Add(port);
                if (taken.Count == Attempts)
                    throw new InvalidOperationException($"every port tried ({string.Join(", ", taken)}) was taken before the program could bind it", e);
            }
        }
    }
}
