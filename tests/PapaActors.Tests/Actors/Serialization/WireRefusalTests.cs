using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PapaActors.Actors;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Serialization;

/// <summary>
/// What a node accepts from Akka.Remote (127.0.0.1): this TestKit's system is a PapaActors node; a stranger is a plain
/// Akka ActorSystem whose JSON serializer (id 1) is Akka's own Newtonsoft one.
/// </summary>
public sealed class WireRefusalTests() : TestKit(RemoteNodeConfig())
{
    /// <summary>A node as deployed: without the in-process serialization checks of the other actor tests.</summary>
    private static Config RemoteNodeConfig() =>
        (PapaSystemSetup.RemoteNode(TestSettings.TinyConfig(), NodeEndpoint.Loopback) with { Logging = SystemLogging.TestKit })
            .ToConfig();

    /// <summary>A type any JSON payload could name; its constructor counts the instances made.</summary>
    public sealed class Gadget
    {
        private static int _instances;

        public Gadget() => Interlocked.Increment(ref _instances);

        public static int Instances => Volatile.Read(ref _instances);

        public string Command { get; set; } = "";
    }

    [Fact]
    public async Task AJsonPayloadFromTheNetworkIsRefusedAndBuildsNothing()
    {
        using var stranger = ActorSystem.Create("stranger", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.hostname = 127.0.0.1
            akka.remote.dot-netty.tcp.port = 0
            akka.loglevel = OFF
            """));
        var node = ((ExtendedActorSystem)Sys).Provider.DefaultAddress;
        var target = await stranger.ActorSelection(TestActor.Path.ToStringWithAddress(node)).ResolveOne(TimeSpan.FromSeconds(10));

        var gadget = new Gadget { Command = "rm -rf /" };
        await EventFilter.Custom(e => e.ToString().Contains("refused a", StringComparison.Ordinal) && e.ToString().Contains("Akka's JSON serializer (id 1)", StringComparison.Ordinal))
            .ExpectOneAsync(() =>
            {
                target.Tell(gadget);
                return Task.CompletedTask;
            });
        target.Tell("after the gadget"); // a string (Akka's own serializer) still arrives: the association is alive, in order

        await ExpectMsgAsync("after the gadget");
        Assert.Equal(1, Gadget.Instances); // the stranger's own; none made on the node
    }

    [Fact]
    public void AMessageWithoutAWireFormatFailsByNameWhereItIsSent()
    {
        var serializer = Sys.Serialization.FindSerializerFor(new UriBuilder("http://example.org"));

        Assert.Equal(PapaActors.Actors.Serialization.RefusingJsonSerializer.JsonId, serializer.Identifier);
        var error = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.ToBinary(new UriBuilder("http://example.org")));
        Assert.Contains("System.UriBuilder has no wire format", error.Message);
    }
}
