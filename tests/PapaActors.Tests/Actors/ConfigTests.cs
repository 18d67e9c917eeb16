using Akka.Configuration;
using PapaActors.Actors.Configuration;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors;

public sealed class ConfigTests
{
    [Fact]
    public void ReferenceDefaultsMatchTheDocumentedMethod()
    {
        var settings = PapaSettings.FromConfig(PapaConfig.Defaults);
        Assert.Equal(MixingMethod.Papa, settings.Method);
        Assert.Equal(0.99, settings.Mixing.Rho);
        Assert.Equal(10, settings.Mixing.EmaEverySteps);
        Assert.Equal(0.02, settings.Dataset.HeldOutFraction);
        Assert.Equal(["cpu"], settings.Devices);
        Assert.False(settings.SaveMembers);
    }

    [Fact]
    public void OverridesWinOverFilesWhichWinOverDefaults()
    {
        using var folder = new TempFolder();
        var file = folder.File("run.conf");
        File.WriteAllText(file, "papa {\n  population = 6\n  epochs = 2\n  data-dir = \"/data/my fashion\"\n}\n");

        var settings = PapaSettings.FromConfig(PapaConfig.Load(file, ["epochs=5", "papa.method=papa-2", "devices=[cpu, cpu]"]));

        Assert.Equal(6, settings.Population);
        Assert.Equal(5, settings.Epochs);
        Assert.Equal(MixingMethod.Papa2, settings.Method);
        Assert.Equal("/data/my fashion", settings.Dataset.Path);
        Assert.Equal(["cpu", "cpu"], settings.Devices);
        Assert.Equal(128, settings.Training.BatchSize);
    }

    [Fact]
    public void UnknownKeyIsNamedWithASuggestion()
    {
        var error = Assert.Throws<ConfigException>(() => PapaConfig.Load(null, ["papa.ema-every-step=5"]));
        Assert.Contains("unknown key 'papa.ema-every-step'", error.Message);
        Assert.Contains("did you mean 'papa.ema-every-steps'", error.Message);

        var nested = Assert.Throws<ConfigException>(() => PapaConfig.Load(null, ["optimizer.learning-rate=0.1"]));
        Assert.Contains("keys of papa.optimizer: name, lr, min-lr", nested.Message);
    }

    [Theory]
    [InlineData("method=papa3", "'papa.method' = 'papa3' is not allowed: expected one of none | papa | papa-all | papa-2")]
    [InlineData("population=0", "'papa.population' = '0' is not allowed: expected an integer from 1 to 4096")]
    [InlineData("rho=1.5", "'papa.rho' = '1.5' is not allowed: expected a number >= 0 and <= 1")]
    [InlineData("batchnorm.soup=mean", "'papa.batchnorm.soup' = 'mean' is not allowed: expected one of average | reset")]
    [InlineData("devices=[cpu, gpu0]", "'papa.devices' = 'gpu0' is not allowed: expected cpu or cuda:N")]
    [InlineData("save-members=maybe", "'papa.save-members' = 'maybe' is not allowed: expected on or off")]
    [InlineData("round-timeout=soon", "'papa.round-timeout' = 'soon' is not allowed")]
    [InlineData("optimizer.min-lr=1", "'papa.optimizer.min-lr' (1) must not exceed 'papa.optimizer.lr' (0.05)")]
    public void BadValuesNameTheKeyAndWhatIsAllowed(string assignment, string message)
    {
        var error = Assert.Throws<ConfigException>(() => PapaSettings.FromConfig(PapaConfig.Load(null, [assignment])));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void ObjectWhereAValueBelongsIsRejected()
    {
        var error = Assert.Throws<ConfigException>(() => PapaConfig.Validate(ConfigurationFactory.ParseString("papa.rho { x = 1 }")));
        Assert.Contains("unknown key 'papa.rho.x'", error.Message);
        var other = Assert.Throws<ConfigException>(() => PapaConfig.Validate(ConfigurationFactory.ParseString("paap.rho = 1")));
        Assert.Contains("only keys under papa and akka are allowed", other.Message);
    }

    [Fact]
    public void MissingConfigFileIsNamed()
    {
        var error = Assert.Throws<ConfigException>(() => PapaConfig.Load("/nowhere/run.conf", []));
        Assert.Contains("config file not found: /nowhere/run.conf", error.Message);
    }

    [Fact]
    public void RenderedConfigParsesBackToTheSameSettings()
    {
        var config = PapaConfig.Load(null, ["data-dir=/tmp/a b//c", "devices=[cpu, \"cuda:1\"]", "rho=0.25", "round-timeout=90s"]);
        var rendered = PapaConfig.Render(config);
        var again = PapaSettings.FromConfig(ConfigurationFactory.ParseString(rendered));

        var original = PapaSettings.FromConfig(config);
        Assert.Equal(original with { Devices = [] }, again with { Devices = [] });
        Assert.Equal(original.Devices, again.Devices);
        Assert.Equal("/tmp/a b//c", again.Dataset.Path);
    }
}
