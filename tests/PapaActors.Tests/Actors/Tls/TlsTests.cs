using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Tls;
using PapaActors.Actors.Transfer;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Tls;

/// <summary>
/// Mutual TLS (papa.cluster.tls) over real loopback sockets: a node of our CA reaches actors; a plain-TCP client, a TLS
/// client without a certificate and one with a certificate of another CA are refused, on Akka.Remote's port and on the
/// stream path's port alike. Certificates are made by <see cref="ClusterCertificates"/>, as `papa cert` makes them.
/// </summary>
public sealed class TlsTests : IDisposable
{
    /// <summary>How long a refused peer is given to reach an actor anyway: a TLS handshake on loopback takes milliseconds.</summary>
    private static readonly TimeSpan NotReachedWithin = TimeSpan.FromSeconds(2);

    private readonly TempFolder _folder = new();
    private readonly List<ActorSystem> _systems = [];

    public void Dispose()
    {
        Task.WhenAll(_systems.Select(s => s.Terminate())).Wait(TimeSpan.FromSeconds(30));
        _folder.Dispose();
    }

    public enum Client { PlainTcp, TlsWithoutCertificate, TlsWithAnotherCasCertificate }

    public enum Port { AkkaRemote, Stream }

    /// <summary>Certificate overrides for a node named <paramref name="node"/> of the CA in <paramref name="ca"/> (made on first use).</summary>
    private string[] Tls(string ca, string node) => ClusterCertificates.LoopbackNodeSettings(_folder.File(ca), node);

    private ActorSystem Node(string name, params string[] overrides)
    {
        var setup = PapaSystemSetup.RemoteNode(TestSettings.TinyConfig(overrides), NodeEndpoint.Loopback) with { Logging = SystemLogging.QuietConsole };
        var system = setup.Create(name);
        _systems.Add(system);
        return system;
    }

    private static Address AddressOf(ActorSystem system) => ((ExtendedActorSystem)system).Provider.DefaultAddress;

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell(m));
    }

    [Fact]
    public async Task ANodeOfTheSameCaReachesActorsAndANodeOfAnotherCaDoesNot()
    {
        var server = Node("server", Tls("ca", "server"));
        server.ActorOf(Props.Create(() => new Echo()), "echo");
        var echo = new RootActorPath(AddressOf(server)) / "user" / "echo";
        var member = Node("member", Tls("ca", "member"));
        var stranger = Node("stranger", Tls("other-ca", "stranger"));

        Assert.Equal("akka.ssl.tcp", AddressOf(server).Protocol);
        Assert.Equal("hello", await member.ActorSelection(echo).Ask<string>("hello", TimeSpan.FromSeconds(20)));
        await Assert.ThrowsAsync<ActorNotFoundException>(() => stranger.ActorSelection(echo).ResolveOne(NotReachedWithin));
    }

    [Theory]
    [InlineData(Port.AkkaRemote, Client.PlainTcp)]
    [InlineData(Port.AkkaRemote, Client.TlsWithoutCertificate)]
    [InlineData(Port.AkkaRemote, Client.TlsWithAnotherCasCertificate)]
    [InlineData(Port.Stream, Client.PlainTcp)]
    [InlineData(Port.Stream, Client.TlsWithoutCertificate)]
    [InlineData(Port.Stream, Client.TlsWithAnotherCasCertificate)]
    public async Task AClientWithoutACertificateOfTheCaIsDisconnectedAndTheServerSaysWhy(Port port, Client client)
    {
        var server = Node("server", Tls("ca", "server"));
        var logged = FirstWarningOrError(server, port == Port.Stream ? "dropped the stream connection from" : "TLS handshake");
        var number = port == Port.AkkaRemote ? AddressOf(server).Port!.Value : BulkTransport.For(server).StreamPort!.Value;
        var stranger = Tls("other-ca", "stranger");
        using var certificate = X509CertificateLoader.LoadPkcs12FromFile(stranger[1].Split('=', 2)[1], null);

        using var socket = new TcpClient();
        socket.Connect("127.0.0.1", number);
        // A server that kept the connection open would fail the read with a timeout, not pass this test.
        socket.ReceiveTimeout = 20_000;
        Stream connection = socket.GetStream();
        try
        {
            if (client != Client.PlainTcp)
            {
                var ssl = new SslStream(connection);
                connection = ssl;
                ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ClientCertificates = client == Client.TlsWithAnotherCasCertificate ? [certificate] : [],
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                });
            }
            else
                connection.Write(new byte[64]); // not a TLS hello
            // A TLS client waits for the server, which closes the connection once it has seen the client's certificate.
            Assert.Equal(0, connection.Read(new byte[1]));
        }
        catch (Exception e) when (e is AuthenticationException or IOException { InnerException: not SocketException { SocketErrorCode: SocketError.TimedOut } })
        {
            // refused in the handshake, or the connection reset
        }
        finally
        {
            connection.Dispose();
        }
        var reason = await logged.WaitAsync(TimeSpan.FromSeconds(20));
        if (port == Port.Stream && client != Client.PlainTcp)
            Assert.Contains(client == Client.TlsWithoutCertificate ? "showed no certificate" : "issued by 'CN=PapaActors cluster CA", reason);
    }

    /// <summary>The first warning or error <paramref name="system"/> logs that contains <paramref name="text"/>.</summary>
    private static Task<string> FirstWarningOrError(ActorSystem system, string text)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = system.ActorOf(Props.Create(() => new LogListener(text, found)));
        system.EventStream.Subscribe(listener, typeof(Warning));
        system.EventStream.Subscribe(listener, typeof(Error));
        return found.Task;
    }

    private sealed class LogListener : ReceiveActor
    {
        public LogListener(string text, TaskCompletionSource<string> found) =>
            Receive<LogEvent>(e =>
            {
                if (e.Message?.ToString()?.Contains(text, StringComparison.Ordinal) == true)
                    found.TrySetResult(e.ToString());
            });
    }

    /// <summary>The control for the test above: the same client with a certificate of the CA is let in, by a server of the CA.</summary>
    [Theory]
    [InlineData(Port.AkkaRemote)]
    [InlineData(Port.Stream)]
    public void AClientWithACertificateOfTheCaCompletesTheHandshake(Port port)
    {
        var server = Node("server", Tls("ca", "server"));
        var number = port == Port.AkkaRemote ? AddressOf(server).Port!.Value : BulkTransport.For(server).StreamPort!.Value;
        using var certificate = X509CertificateLoader.LoadPkcs12FromFile(Tls("ca", "client")[1].Split('=', 2)[1], null);
        using var ca = X509CertificateLoader.LoadCertificateFromFile(_folder.File($"ca/{ClusterCertificates.CaFile}"));

        using var socket = new TcpClient();
        socket.Connect("127.0.0.1", number);
        using var ssl = new SslStream(socket.GetStream());
        ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = [certificate],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });

        Assert.True(ssl.IsMutuallyAuthenticated);
        Assert.Equal(ca.Subject, ssl.RemoteCertificate!.Issuer);
    }

    [Fact]
    public async Task TheCertificatesOfPapaCertLetTwoNodesTalkAndValidateHostnameRefusesACertificateForAnotherHost()
    {
        var certs = _folder.File("certs");
        File.WriteAllText(_folder.File("password"), "s3cret\n");
        Cli.AssertRejected(Cli.RunInProcess("cert", "--out", certs), "--nodes N or --name NAME");
        var made = Cli.RunInProcess("cert", "--out", certs, "--name", "localhost", "--name", "127.0.0.1", "--name", "elsewhere", "--password-file", _folder.File("password"));
        Assert.True(made.ExitCode == 0, made.Output);
        Assert.DoesNotContain("s3cret", made.Output);

        string[] NodeSettings(string name) =>
        [
            "cluster.tls.enabled=on", $"cluster.tls.ca={certs}/{ClusterCertificates.CaFile}", $"cluster.tls.certificate={certs}/{name}.pfx",
            $"cluster.tls.password-file={_folder.File("password")}", "cluster.tls.validate-hostname=on",
        ];
        var server = Node("server", NodeSettings("127.0.0.1"));
        server.ActorOf(Props.Create(() => new Echo()), "echo");
        var client = Node("client", NodeSettings("localhost"));

        var echo = new RootActorPath(AddressOf(server)) / "user" / "echo";
        Assert.Equal("hello", await client.ActorSelection(echo).Ask<string>("hello", TimeSpan.FromSeconds(20)));
        // A node of the same CA whose certificate names another host, reached at 127.0.0.1.
        var misnamed = Node("misnamed", NodeSettings("elsewhere"));
        misnamed.ActorOf(Props.Create(() => new Echo()), "echo");
        var misnamedEcho = new RootActorPath(AddressOf(misnamed)) / "user" / "echo";
        await Assert.ThrowsAsync<ActorNotFoundException>(() => client.ActorSelection(misnamedEcho).ResolveOne(NotReachedWithin));
    }

    [Fact]
    public async Task APemCertificateWithItsKeyWorksLikeAPfx()
    {
        var pfx = Tls("ca", "pem-node");
        using (var certificate = X509CertificateLoader.LoadPkcs12FromFile(pfx[1].Split('=', 2)[1], null))
        {
            File.WriteAllText(_folder.File("node.pem"), certificate.ExportCertificatePem());
            File.WriteAllText(_folder.File("node-key.pem"), certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        }
        var server = Node("server", [pfx[0], pfx[2], $"cluster.tls.certificate={_folder.File("node.pem")}", $"cluster.tls.key={_folder.File("node-key.pem")}"]);
        server.ActorOf(Props.Create(() => new Echo()), "echo");
        var client = Node("client", Tls("ca", "client"));

        var echo = new RootActorPath(AddressOf(server)) / "user" / "echo";
        Assert.Equal("hello", await client.ActorSelection(echo).Ask<string>("hello", TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public void TlsKeysThatCannotWorkAreRefusedWithTheirName()
    {
        var good = Tls("ca", "node");
        ConfigException Refused(params string[] overrides) =>
            Assert.Throws<ConfigException>(() => PapaSystemSetup.RemoteNode(TestSettings.TinyConfig(overrides), NodeEndpoint.Loopback).ToAkkaSetup());

        Assert.Contains("'papa.cluster.tls.certificate' = '' is not allowed", Refused("cluster.tls.enabled=on").Message);
        Assert.Contains("'papa.cluster.tls.ca' = '/nowhere/ca.pem': no such file", Refused([.. good, "cluster.tls.ca=/nowhere/ca.pem"]).Message);
        Assert.Contains("'papa.cluster.tls.password-env' = 'PAPA_TEST_UNSET_PASSWORD'", Refused([.. good, "cluster.tls.password-env=PAPA_TEST_UNSET_PASSWORD"]).Message);
        File.WriteAllText(_folder.File("password"), "wrong\n");
        Assert.Contains("a wrong or missing password?", Refused([.. good, $"cluster.tls.password-file={_folder.File("password")}"]).Message);
        Assert.Contains("is a PEM certificate: 'papa.cluster.tls.key'", Refused([.. good, "cluster.tls.certificate=node.pem"]).Message);
    }
}
