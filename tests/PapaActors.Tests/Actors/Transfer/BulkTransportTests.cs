using Akka.Configuration;
using PapaActors.Actors.Transfer;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Transfer;

/// <summary>What `papa.transfer` accepts. The stream path itself is in <see cref="StreamTransportTests"/>.</summary>
public sealed class BulkTransportTests
{
    [Fact]
    public void TheInboundConnectionLimitMustBePositive()
    {
        var error = Assert.ThrowsAny<Exception>(() => TestSettings.Tiny("transfer.max-inbound-connections=0"));
        Assert.Contains("'papa.transfer.max-inbound-connections' = '0' is not allowed", error.Message);
    }

    [Fact]
    public void TheLargestMessageKeptOnAkkaRemoteMustFitItsFrame()
    {
        using var system = (PapaTestKitConfig.Setup(TestSettings.TinyConfig("transfer.stream-above=512KiB"), virtualTime: false) with
        {
            Overrides = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.maximum-frame-size = 128000b"),
        }).Create("frames");

        var error = Assert.ThrowsAny<Exception>(() => BulkTransport.For(system));
        Assert.Contains("'papa.transfer.stream-above' (524288) plus 4096 bytes of envelope must fit in 'akka.remote.dot-netty.tcp.maximum-frame-size' (128000)", error.ToString());
    }
}
