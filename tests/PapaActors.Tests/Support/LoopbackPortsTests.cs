using System.Net;
using System.Net.Sockets;
using PapaActors.Actors;
using PapaActors.Actors.Configuration;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Support;

/// <summary>The ports that tests hand to `papa node` and the scripts before they start.</summary>
public sealed class LoopbackPortsTests
{
    [Fact]
    public void AkkaRemoteOnATakenPortFailsWithTheTextThatMakesTheTestsTryAnotherPort()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var setup = PapaSystemSetup.RemoteNode(PapaConfig.Load(null, []), new NodeEndpoint("127.0.0.1", port)) with { Logging = SystemLogging.QuietConsole };

        var error = Assert.ThrowsAny<Exception>(() => setup.Create("taken").Dispose());

        Assert.Contains(LoopbackPorts.BindFailure(port), error.ToString());
    }

    [Fact]
    public void APortTakenBeforeTheProgramBoundItIsTriedAgainOnAnother()
    {
        var tried = new List<int>();

        var port = LoopbackPorts.Run(port =>
        {
            tried.Add(port);
            return tried.Count == 1 ? throw new InvalidOperationException($"papa exited (1):\n{LoopbackPorts.BindFailure(port)}") : port;
        });

        Assert.Equal(2, tried.Count);
        Assert.Equal(tried[1], port);
    }

    [Fact]
    public void AfterThreeTakenPortsTheErrorNamesThemAndOtherFailuresAreNotRetried()
    {
        var tried = new List<int>();
        var error = Assert.Throws<InvalidOperationException>(() => LoopbackPorts.Run<int>(port =>
        {
            tried.Add(port);
            throw new InvalidOperationException(LoopbackPorts.BindFailure(port));
        }));
        Assert.Equal($"every port tried ({string.Join(", ", tried)}) was taken before the program could bind it", error.Message);
        Assert.Equal(3, tried.Count);

        var attempts = 0;
        Assert.Throws<TimeoutException>(() => LoopbackPorts.Run<int>(_ =>
        {
            attempts++;
            throw new TimeoutException("no 10 rounds");
        }));
        Assert.Equal(1, attempts);
    }
}
