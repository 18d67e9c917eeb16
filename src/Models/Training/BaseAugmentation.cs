namespace PapaActors.Models.Training;

/// <summary>Base augmentation of every member: random crop after zero padding, and/or horizontal flip.</summary>
public sealed record BaseAugmentation(bool Crop, int CropPadding, bool HorizontalFlip)
{
    public static readonly BaseAugmentation None = new(false, 0, false);

    public static readonly string[] Names = ["auto", "none", "crop-flip", "crop", "flip"];

    /// <summary>`auto` is crop + flip for CIFAR (as the paper) and none for the 28x28 greyscale sets.</summary>
    public static BaseAugmentation Parse(string name, string dataset, int cropPadding) => name switch
    {
        "auto" => dataset.StartsWith("cifar", StringComparison.Ordinal) ? new(true, cropPadding, true) : None,
        "none" => None,
        "crop-flip" => new(true, cropPadding, true),
        "crop" => new(true, cropPadding, false),
        "flip" => new(false, 0, true),
        _ => throw new ArgumentException($"unknown augmentation '{name}' (known: {string.Join(", ", Names)})"),
    };
}
